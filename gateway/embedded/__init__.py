"""Embedded Triton: the tritonserver of the nvidia-pytriton wheel, composed, started and supervised.

server.py       where the wheel's server, stub and libraries are; the command line
supervisor.py   runs it, restarts it when it dies, cleans up after it
backends/       Triton-side code: the python-based "onnxruntime" backend
"""
