#include "CFractalLinux.h"
