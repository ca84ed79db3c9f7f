# Production Triton: the NGC image (Triton 2.51, native onnxruntime backend on the GPU) plus what
# the python models import. The model repository is mounted, not copied.
FROM nvcr.io/nvidia/tritonserver:24.10-py3
RUN pip install --no-cache-dir "numpy<2" "pillow>=10.4,<13" "simplejpeg>=1.7,<2" "zxing-cpp>=3.1,<4"
# The preprocess model's GPU decode (configs/gpu.pbtxt: nvJPEG through torchvision.io). PyPI's
# linux wheels of torch 2.7.0 / torchvision 0.22.0 are CUDA 12.6 builds, the CUDA of this image,
# and bring their own CUDA libraries. Its own layer: several GB that rarely change.
#
# ~3 GB for nvJPEG and one resize. Weighed: nvImageCodec (PyPI nvidia-nvimgcodec-cu12, tens of
# MB with nvjpeg) decodes batches, and on A100/H100/H200 can use the hardware JPEG engines that
# torchvision leaves idle, but brings no resize (CV-CUDA or CuPy would). The image's own DALI
# backend runs decode+resize as a Triton model with no Python at all, but one bad image fails
# its whole batch and its resize would have to be matched to imaging.py's geometry again.
# torchvision stays until benchmarks/gpu shows the decode is what limits a GPU.
RUN pip install --no-cache-dir "torch==2.7.0" "torchvision==0.22.0"
# Fail the build, not the first request, when the GPU path cannot import: a CUDA build of torch,
# torchvision's image library (a CPU decode proves it loads) with its nvJPEG batch op, numpy 1.x
# (the python backend's stub needs it). No GPU here: CUDA itself is checked at load (warm-up).
RUN python3 -c "\
import numpy, simplejpeg, torch, torchvision; \
from torchvision.io import ImageReadMode, decode_jpeg; \
assert numpy.__version__.startswith('1.'), numpy.__version__; \
assert torch.version.cuda, 'torch is a CPU build'; \
jpeg = torch.frombuffer(bytearray(simplejpeg.encode_jpeg(numpy.zeros((8, 8, 3), 'uint8'))), dtype=torch.uint8); \
assert decode_jpeg(jpeg, mode=ImageReadMode.RGB).shape == (3, 8, 8); \
torch.ops.image.decode_jpegs_cuda; \
print('GPU decode imports: torch', torch.__version__, 'CUDA', torch.version.cuda, 'torchvision', torchvision.__version__)"
# PyTorch's caching allocator in the preprocess stubs: growable segments instead of fixed blocks,
# so decodes of varying sizes fragment less and the stubs hold less of the GPU that onnxruntime
# shares. gpu_plan.py bounds what a batch holds (MAX_GPU_PIXELS, BATCH_PIXEL_BUDGET).
ENV PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
