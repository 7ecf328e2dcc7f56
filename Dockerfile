# syntax=docker/dockerfile:1
# kubetune images, two targets from one file:
#   docker build -t kubetune:0.1.0 .                       the operator (default, last stage)
#   docker build --target runner -t kubetune-runner:0.1.0 .  a base for training images:
#       FROM kubetune-runner:0.1.0
#       COPY train.py .
#   (or add `pip install kubetune-runner` to any image: the runner has no dependencies)
# Wheels are built in a throwaway stage; the final images hold no compiler, no pip cache,
# and run as an unprivileged user with a read-only root filesystem in mind (/tmp is the
# only place written, mounted as an emptyDir by the Helm chart).

ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm
# Kept equal to kubetune.__version__ and kubetune_runner.__version__ (tests/unit/helm/test_dockerfile.py).
ARG KUBETUNE_VERSION=0.1.0

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY trial-runner/ trial-runner/
RUN pip wheel --wheel-dir /wheels/operator . \
 && pip wheel --no-deps --wheel-dir /wheels/runner ./trial-runner

FROM ${PYTHON_IMAGE} AS runner
ARG KUBETUNE_VERSION
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1
RUN --mount=type=bind,from=build,source=/wheels/runner,target=/wheels \
    pip install --no-index --find-links /wheels "kubetune-runner==${KUBETUNE_VERSION}" \
 && useradd --uid 10001 --create-home --shell /usr/sbin/nologin trainer
WORKDIR /home/trainer
USER 10001
ENTRYPOINT ["kubetune-runner", "--"]

FROM ${PYTHON_IMAGE} AS operator
# One BLAS thread: the model-based suggesters work on small matrices, where threads only
# contend (measured ~10x faster single-threaded on 2 cores).
ARG KUBETUNE_VERSION
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONUNBUFFERED=1 \
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
RUN --mount=type=bind,from=build,source=/wheels/operator,target=/wheels \
    pip install --no-index --find-links /wheels "kubetune==${KUBETUNE_VERSION}" \
 && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin kubetune
USER 10001
EXPOSE 8080
ENTRYPOINT ["kubetune", "operator"]
