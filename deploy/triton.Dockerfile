# Production Triton: the NGC image (Triton 2.51, native onnxruntime backend on the GPU) plus what
# the python preprocess model imports. The model repository is mounted, not copied.
FROM nvcr.io/nvidia/tritonserver:24.10-py3
RUN pip install --no-cache-dir "numpy<2" "pillow>=10.4,<13" "simplejpeg>=1.7,<2"
# The preprocess model's GPU decode (configs/gpu.pbtxt: nvJPEG through torchvision.io). PyPI's
# linux wheels of torch 2.7.0 / torchvision 0.22.0 are CUDA 12.6 builds, the CUDA of this image,
# and bring their own CUDA libraries. Its own layer: several GB that rarely change.
RUN pip install --no-cache-dir "torch==2.7.0" "torchvision==0.22.0"
