#include "CUInput.h"
