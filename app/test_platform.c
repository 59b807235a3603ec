#include "tektra.h"
int main(void) { return 0; }
