"""Checks the answers before anything is written; a bad one stops the render with one sentence.

cookiecutter deletes the half-made project folder when this hook exits non-zero. The
answers arrive as JSON data (tojson into a raw string), never pasted into Python
string literals, so quotes, backslashes and newlines in them are harmless.
"""

import json
import re
import sys

NAME = re.compile(r"[a-z][a-z0-9]*(?:[_-][a-z0-9]+)*")
NAME_MAX = 32  # leaves room for SageMaker's job-name timestamp within its 63 characters
INSTANCE = re.compile(r"ml\.([a-z]+)(\d+)([a-z-]*)\.([0-9]*x?large|medium|small|micro)")
IMAGE = re.compile(r"[a-z0-9][a-z0-9._/:@-]*")
PYTHON_TOO_OLD = re.compile(
    r"(?:^|/)(?:debian:(?:bookworm|bullseye|buster|1[012])|ubuntu:(?:22\.04|20\.04|jammy|focal))(?:[-.]|$)"
)
PLATFORMS = ("linux/amd64", "linux/arm64")  # training needs the first; Graviton hosting the second
FRAMEWORKS = ("scikit-learn", "xgboost", "lightgbm")


def problems(answers: dict) -> list[str]:
    found = []
    name = answers["algorithm_name"]
    if not (isinstance(name, str) and NAME.fullmatch(name) and len(name) <= NAME_MAX):
        found.append(
            f"algorithm_name {name!r} must be 1 to {NAME_MAX} lowercase letters, digits, '_' or '-', "
            "starting with a letter and not ending with or doubling '_' or '-', "
            "so that it works as a folder, a Docker image and an ECR repository name."
        )
    if answers["framework"] not in FRAMEWORKS:
        found.append(f"framework {answers['framework']!r} must be one of {', '.join(FRAMEWORKS)}.")
    if not re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", str(answers["aws_region"])):
        found.append(f"aws_region {answers['aws_region']!r} is not an AWS region name such as us-east-1.")
    platforms = str(answers["platforms"]).split(",")
    if len(set(platforms)) != len(platforms) or not set(platforms) <= set(PLATFORMS):
        found.append(
            f"platforms {answers['platforms']!r} must be {PLATFORMS[0]} or {','.join(PLATFORMS)} "
            "(comma-separated, no spaces, each once)."
        )
    elif PLATFORMS[0] not in platforms:
        found.append(
            f"platforms {answers['platforms']!r} must include {PLATFORMS[0]}: "
            "SageMaker has no Graviton training instances, so training always runs on x86."
        )
    for key in ("training_instance_type", "hosting_instance_type"):
        match = INSTANCE.fullmatch(str(answers[key]))
        if not match:
            found.append(f"{key} {answers[key]!r} is not a SageMaker instance type such as ml.m5.large.")
            continue
        graviton = "g" in match.group(3)  # ml.m6g, ml.c7gn...: AWS Graviton (arm64); ml.g5 is x86 with a GPU
        if graviton and key == "training_instance_type":
            found.append(
                f"{key} {answers[key]} is a Graviton (arm64) instance, but SageMaker has no Graviton "
                "training instances: choose an x86 type such as ml.m5.large."
            )
        elif graviton and "linux/arm64" not in platforms:
            found.append(f"{key} {answers[key]} is a Graviton (arm64) instance: add linux/arm64 to platforms.")
    image = str(answers["base_image"])
    if not IMAGE.fullmatch(image):
        found.append(f"base_image {image!r} is not a Docker image reference such as debian:trixie-slim.")
    elif PYTHON_TOO_OLD.search(image):
        found.append(
            f"base_image {image} ships a Python older than 3.12; use Debian 13 (trixie) or Ubuntu 24.04 or newer."
        )
    return found


def main(answers: dict) -> int:
    found = problems(answers)
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    ANSWERS = json.loads(
        r"""{{ {
            "algorithm_name": cookiecutter.algorithm_name,
            "framework": cookiecutter.framework,
            "aws_region": cookiecutter.aws_region,
            "training_instance_type": cookiecutter.training_instance_type,
            "hosting_instance_type": cookiecutter.hosting_instance_type,
            "platforms": cookiecutter.platforms,
            "base_image": cookiecutter.base_image,
        } | tojson }}"""
    )
    sys.exit(main(ANSWERS))
