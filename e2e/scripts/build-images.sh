#!/usr/bin/env bash
# Builds the controller image and the immutable worker image (a containerDisk) and loads both
# into the management cluster's nodes.
source "$(dirname "$0")/common.sh"
require docker kind

docker build -t "$CONTROLLER_IMAGE" -f "$E2E_DIR/controller.Dockerfile" "$REPO_DIR"
docker build -t "$WORKER_IMAGE" --build-arg "KUBERNETES_MINOR=$KUBERNETES_MINOR" "$E2E_DIR/image"
kind load docker-image --name "$MANAGEMENT_CLUSTER" "$CONTROLLER_IMAGE" "$WORKER_IMAGE"
