# Production Triton: the NGC image (Triton 2.51, native onnxruntime backend on the GPU) plus what
# the python preprocess model imports. The model repository is mounted, not copied.
FROM nvcr.io/nvidia/tritonserver:24.10-py3
RUN pip install --no-cache-dir "numpy<2" "pillow>=10.4,<13" "simplejpeg>=1.7,<2"
