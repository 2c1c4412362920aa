# The controller image used by the e2e scripts; build from the repository root:
#   docker build -t kubevirt-autoscaler:e2e -f e2e/controller.Dockerfile .
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY autoscaler ./autoscaler
RUN python -m venv /opt/kvpool && /opt/kvpool/bin/pip install --no-cache-dir .

FROM python:3.11-slim
COPY --from=build /opt/kvpool /opt/kvpool
ENV PATH=/opt/kvpool/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
# The chart runs it as 65532 with a read-only root filesystem and a writable /tmp.
USER 65532:65532
ENTRYPOINT ["kubevirt-autoscaler"]
CMD ["run"]
