"""Embedded Triton: the tritonserver from the nvidia-pytriton wheel, composed and supervised."""
