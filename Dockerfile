# bulkpatch in a container:  docker build -t bulkpatch:0.2.0.dev0 .
#
# The API key is never part of the image. Give it when the container runs, as an environment
# variable filled from a secret store: a Kubernetes Secret (see deploy/kubernetes/), or
#   docker run --rm --env SARVAM_API_KEY -v "$PWD:/work" -w /work bulkpatch:0.2.0.dev0 run sheet.csv
# with SARVAM_API_KEY exported in your shell (--env NAME passes its value without showing it).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# Only what `pip install .` needs is in the build context (see .dockerignore).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src/ ./src/
# With the otel extra: OTEL_EXPORTER_OTLP_ENDPOINT in the pod turns telemetry on.
RUN pip install .[otel] \
    && useradd --uid 10001 --user-group --create-home --home-dir /home/bulkpatch \
        --shell /usr/sbin/nologin bulkpatch

# A numeric user, so that Kubernetes' runAsNonRoot can check it is not root.
USER 10001:10001
WORKDIR /home/bulkpatch
ENTRYPOINT ["bulkpatch"]
CMD ["--help"]
