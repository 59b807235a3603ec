# The MLX backend on MLX's CPU device: golden logits of ../shared/oracle/mlx,
# agreement with the CPU engine, sessions, the programs, errors. Only in
# builds with MLX (TEKTRA_HAVE_MLX).
if(TEKTRA_HAVE_MLX)
    tk_test(NAME test_mlx SOURCES test_mlx.c LABELS model e2e TIMEOUT 600)
    add_dependencies(test_mlx tektra_bin)
endif()
