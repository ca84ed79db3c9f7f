# The gateway alone: FastAPI + async gRPC client. No model, no Triton, no CUDA.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY clients ./clients
COPY training/__init__.py ./training/__init__.py
RUN pip install . && useradd --system --uid 10001 healthcode
USER healthcode
ENV HEALTHCODE_HOST=0.0.0.0 HEALTHCODE_PORT=8080
EXPOSE 8080
CMD ["sh", "-c", "exec uvicorn --factory gateway.app:create_app --host \"$HEALTHCODE_HOST\" --port \"$HEALTHCODE_PORT\" --workers \"${HEALTHCODE_WORKERS:-2}\" --no-access-log"]
