# tektra in a container: built on Debian bookworm, run from a small image
# with only the programs and the libraries they load.
#   podman build -t tektra .          (or docker build)
#   podman run -p 8080:8080 -v tektra-models:/models tektra
# The model store is the volume /models (`tektra pull` writes there); the
# default command serves the chat page and the OpenAI-compatible API on
# port 8080 of every interface of the container. scripts/docker-test.sh
# builds it from a debootstrap base (no registry needed) and tests it.
ARG BASE=debian:bookworm-slim

FROM ${BASE} AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config libcjson-dev libmicrohttpd-dev \
        libcurl4-openssl-dev libedit-dev libpcre2-dev ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY CMakeLists.txt /src/
COPY cmake /src/cmake
COPY include /src/include
COPY src /src/src
COPY app /src/app
COPY tools /src/tools
COPY web /src/web
COPY tests /src/tests
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release -DTEKTRA_BUILD_TESTS=OFF \
    && cmake --build /build -j"$(nproc)" --target tektra_bin test_platform \
    && cmake --install /build --prefix /opt/tektra

FROM ${BASE}
RUN apt-get update && apt-get install -y --no-install-recommends \
        libcjson1 libmicrohttpd12 libcurl4 libedit2 libpcre2-8-0 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 1000 tektra \
    && mkdir /models && chown tektra /models
COPY --from=build /opt/tektra/bin/ /usr/local/bin/
USER tektra
ENV TEKTRA_MODELS=/models
VOLUME /models
EXPOSE 8080
ENTRYPOINT ["tektra"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
