"""Load-testing tools: `healthcode bench` (bench.py), its engine (loadgen.py, rawhttp.py), and a
local echo server (echo.py) to measure the client alone."""
