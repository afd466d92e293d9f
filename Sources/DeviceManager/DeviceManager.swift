import CUInput
