"""Colour constants shared by the torch and the numpy/OpenCV code (importing this loads nothing)."""

# ITU-R BT.601 weights as in MATLAB's rgb2gray
RGB_TO_GREY = (0.298936021293776, 0.587043074451121, 0.114020904255103)
