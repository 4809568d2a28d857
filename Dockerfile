# syntax=docker/dockerfile:1
# cinealert daemon image. Build: docker build -t cinealert .
# Run:   docker run --rm -p 9464:9464 -e CINEALERT_KAFKA__BOOTSTRAP=kafka:9092 -v cinealert-var:/var/lib/cinealert cinealert
# Secrets: mount files into /run/credentials (e.g. kafka.sasl_password); CREDENTIALS_DIRECTORY points there.

# --- build stage: wheels for the project and its dependencies -------------------------------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY config ./config
RUN python -m venv /opt/cinealert \
 && /opt/cinealert/bin/pip install --upgrade pip \
 && /opt/cinealert/bin/pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.13.0" \
 && /opt/cinealert/bin/pip install ".[ml]"

# --- runtime stage: only the venv, system media tools, fonts and a non-root user ------------------------------
FROM python:3.11-slim-bookworm AS runtime
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      ffmpeg espeak-ng fonts-noto-cjk fonts-dejavu-core \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 cinealert \
 && useradd --system --uid 10001 --gid cinealert --home-dir /var/lib/cinealert --shell /usr/sbin/nologin cinealert \
 && install -d -o cinealert -g cinealert -m 0750 /var/lib/cinealert /run/credentials
COPY --from=build /opt/cinealert /opt/cinealert
COPY config/cinealert.example.toml /etc/cinealert/cinealert.example.toml
ENV PATH=/opt/cinealert/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CREDENTIALS_DIRECTORY=/run/credentials \
    CINEALERT_METRICS__HOST=0.0.0.0 \
    CINEALERT_METRICS__PORT=9464 \
    CINEALERT_LOG__FORMAT=json \
    NUMBA_CACHE_DIR=/var/lib/cinealert/.numba
WORKDIR /var/lib/cinealert
USER cinealert:cinealert
EXPOSE 9464
# The metrics endpoint answers only while the daemon's event loop runs.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import urllib.request,sys; r=urllib.request.urlopen('http://127.0.0.1:9464/metrics', timeout=4); sys.exit(0 if b'cinealert_up 1.0' in r.read() else 1)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["cinealert"]
CMD ["run"]
