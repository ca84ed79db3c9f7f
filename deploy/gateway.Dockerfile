# The gateway alone: FastAPI + async gRPC client. No model, no Triton, no CUDA.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY clients ./clients
RUN pip install '.[server]' && useradd --system --uid 10001 healthcode
# The gateway checks images with the model repository's own imaging.py (and decodes with it when
# HEALTHCODE_DECODE=gateway) and names the classes from labels.txt: the image carries those files
# of the repository it was built with, never the models. Changing them means a new gateway image.
COPY model_repository/health_code_preprocess ./model_repository/health_code_preprocess
COPY model_repository/health_code_classifier/labels.txt ./model_repository/health_code_classifier/
USER healthcode
# Several workers share the port; prometheus-client adds their samples up from this folder.
ENV HEALTHCODE_HOST=0.0.0.0 HEALTHCODE_PORT=8080 \
    HEALTHCODE_MODEL_REPOSITORY=/app/model_repository \
    PROMETHEUS_MULTIPROC_DIR=/tmp/healthcode-metrics
EXPOSE 8080
CMD ["sh", "-c", "rm -rf \"$PROMETHEUS_MULTIPROC_DIR\" && mkdir -p \"$PROMETHEUS_MULTIPROC_DIR\" && exec uvicorn --factory gateway.app:create_app --host \"$HEALTHCODE_HOST\" --port \"$HEALTHCODE_PORT\" --workers \"${HEALTHCODE_WORKERS:-2}\" --timeout-graceful-shutdown \"${HEALTHCODE_DRAIN_TIMEOUT_S:-20}\" --no-access-log"]
