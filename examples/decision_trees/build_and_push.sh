#!/usr/bin/env bash
# Build the image for every platform and push it to Amazon ECR as one multi-arch image
# (a manifest list) under an immutable tag. SageMaker trains on x86 only; the arm64 half lets
# an endpoint run on Graviton (ml.c7g, ml.m7g...), each instance pulling its own architecture.
#
# Usage: ./build_and_push.sh [IMAGE_NAME]
#   IMAGE_NAME names the local image and the ECR repository (default: decision_trees).
#
# Environment (all optional):
#   AWS_REGION, AWS_DEFAULT_REGION  the region; otherwise `aws configure get region`,
#                                   otherwise us-east-1
#   TAG            the image tag. Default: the git commit (short SHA) when the project folder
#                  has no uncommitted changes, <sha>-dirty-<UTC time> when it has, and
#                  build-<UTC time> outside git. Never `latest`: an endpoint keeps running the
#                  image it started with, so a moving tag hides which code it runs.
#   PLATFORMS      comma-separated (default: linux/amd64,linux/arm64). Building for the
#                  other architecture runs under QEMU emulation (Docker Desktop has it; on Linux,
#                  Debian's qemu-user-static): minutes, not seconds. PLATFORMS=linux/amd64 skips it
#                  when every endpoint is x86.
#   BASE_IMAGE     the Dockerfile's base image (default: its ARG BASE_IMAGE line)
#   REGISTRY_HOST  push there instead of <account>.dkr.ecr.<region>.amazonaws.com (a mirror,
#                  or a test registry standing in for ECR)
#   AWS_PROFILE, AWS_ENDPOINT_URL and the other AWS CLI settings apply as usual.
#
# Progress goes to stderr; the one line on stdout, printed last, is the pushed image's URI:
#   IMAGE_URI="$(./build_and_push.sh)"
# The ECR password goes from the AWS CLI straight into `docker login` through a pipe: it is
# never printed, never in a variable and never on a command line (no `set -x` here).
set -euo pipefail

image="${1:-decision_trees}"
platforms="${PLATFORMS:-linux/amd64,linux/arm64}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
base="${BASE_IMAGE:-$(sed -n 's/^ARG BASE_IMAGE=//p' "$here/Dockerfile" | head -n 1)}"

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in aws docker; do
    command -v "$tool" >/dev/null || die "the '$tool' command is not installed"
done

# ECR repository names: lowercase path components separated by '/'.
component='[a-z0-9]+([._-][a-z0-9]+)*'
[[ "$image" =~ ^$component(/$component)*$ ]] \
    || die "image name '$image' must be lowercase letters, digits and . _ - / (an ECR repository name)"
platform_re='^linux/(amd64|arm64)(,linux/(amd64|arm64))?$'
[[ "$platforms" =~ $platform_re && ("$platforms" != *,* || "${platforms%,*}" != "${platforms#*,}") ]] \
    || die "PLATFORMS '$platforms' must be linux/amd64 and/or linux/arm64, comma-separated"
IFS=, read -r -a targets <<<"$platforms"

# The region: the environment first (`aws configure get` does not read it), then the CLI profile.
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
if [ -z "$region" ]; then
    region="$(aws configure get region 2>/dev/null || true)"
fi
region="${region:-us-east-1}"
export AWS_REGION="$region" AWS_DEFAULT_REGION="$region"

if ! account="$(aws sts get-caller-identity --query Account --output text)"; then
    die "cannot read the AWS account: are AWS credentials set up (aws configure, AWS_PROFILE)?"
fi
case "$region" in
    cn-*) domain="amazonaws.com.cn" ;;
    *) domain="amazonaws.com" ;;
esac
registry="${REGISTRY_HOST:-$account.dkr.ecr.$region.$domain}"

# An immutable tag: the commit the image is built from.
timestamp="$(date -u +%Y%m%dT%H%M%SZ)"
if [ -n "${TAG:-}" ]; then
    tag="$TAG"
elif sha="$(git -C "$here" rev-parse --short=12 HEAD 2>/dev/null)"; then
    if [ -n "$(git -C "$here" status --porcelain -- . 2>/dev/null)" ]; then
        tag="$sha-dirty-$timestamp"  # uncommitted changes: the commit alone would not say what is inside
    else
        tag="$sha"
    fi
else
    tag="build-$timestamp"
fi
# 122: ECR allows 128 characters, and each architecture's image is tagged <tag>-arm64 and the like.
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] && [ "$(printf '%s' "$tag" | wc -c)" -le 122 ] \
    || die "tag '$tag' must be 1 to 122 letters, digits, _ . - (not starting with . or -)"
[ "$tag" != "latest" ] || die "TAG=latest is mutable: use a tag that names one build"
uri="$registry/$image:$tag"

say "account $account, region $region: pushing $uri"

repository_error="$(aws ecr describe-repositories --repository-names "$image" 2>&1 >/dev/null)" || {
    case "$repository_error" in
        *RepositoryNotFoundException*)
            say "creating the ECR repository $image (scan on push, immutable tags)"
            aws ecr create-repository --repository-name "$image" --image-tag-mutability IMMUTABLE \
                --image-scanning-configuration scanOnPush=true >/dev/null
            ;;
        *) die "cannot look up the ECR repository $image: $repository_error" ;;
    esac
}

# ECR refuses to push a tag again, even with the same content: a tag already there was built
# from the same commit (or named so by TAG), so it is kept and reported, not rebuilt.
in_ecr() { aws ecr describe-images --repository-name "$image" --image-ids imageTag="$1" >/dev/null 2>&1; }
if in_ecr "$tag"; then
    say "$image:$tag is already in ECR (its tags are immutable): nothing to build"
    printf '%s\n' "$uri"
    exit 0
fi

say "logging in to $registry"
aws ecr get-login-password | docker login --username AWS --password-stdin "$registry" >&2

# BuildKit (Docker Desktop's builder) adds attestation manifests by default; SageMaker refuses
# an image that has them. The legacy builder ignores this.
export BUILDX_NO_DEFAULT_ATTESTATIONS=1

# Builds and pushes one architecture's image as $2.
build_one() {
    local platform="$1" reference="$2" wanted built started=$SECONDS
    wanted="${platform#linux/}"
    # Docker's legacy builder uses a local base image of another architecture as it is: pull
    # the one this platform needs. A base that exists only here (built locally) stays as it is.
    if ! docker pull -q --platform "$platform" "$base" >/dev/null 2>&1; then
        say "could not pull $base for $platform: building on the local $base"
    fi
    say "building $image for $platform"
    docker build --platform "$platform" --build-arg BASE_IMAGE="$base" -t "$reference" "$here" >&2
    # What was built, since SageMaker would fail with `exec format error`.
    built="$(docker image inspect "$reference" | sed -n 's/^ *"Architecture": *"\([^"]*\)".*/\1/p' | head -n 1)"
    [ "$built" = "$wanted" ] \
        || die "the image was built for '$built', not $platform: its base $base is $built here (push a $wanted one to a registry and set BASE_IMAGE to it, or build on a $wanted host)"
    say "built $reference for $platform in $((SECONDS - started)) s; pushing it"
    docker push "$reference" >&2
}

# The machine's own architecture last: the local base image and $image end up runnable here.
case "$(uname -m)" in
    aarch64 | arm64) native=linux/arm64 ;;
    *) native=linux/amd64 ;;
esac
ordered=()
for platform in "${targets[@]}"; do [ "$platform" = "$native" ] || ordered+=("$platform"); done
for platform in "${targets[@]}"; do [ "$platform" != "$native" ] || ordered+=("$platform"); done

if [[ "$platforms" != *,* ]]; then
    build_one "${ordered[0]}" "$uri"
    docker tag "$uri" "$image"
else
    # One image of several architectures: each is pushed as <tag>-<arch>, then `docker manifest`
    # (any Docker client, no buildx builder needed) joins them into a manifest list at <tag>.
    parts=()
    for platform in "${ordered[@]}"; do
        part="$uri-${platform#linux/}"
        if in_ecr "$tag-${platform#linux/}"; then
            say "$image:$tag-${platform#linux/} is already in ECR (an earlier run): using it"
        else
            build_one "$platform" "$part"
            [ "$platform" != "$native" ] || docker tag "$part" "$image"
        fi
        parts+=("$part")
    done
    insecure=()
    case "$registry" in
        127.* | localhost | localhost:*) insecure=(--insecure) ;;  # a plain-HTTP test registry
    esac
    docker manifest rm "$uri" >/dev/null 2>&1 || true  # a list an earlier run left in the client's store
    say "pushing the manifest list $uri (${ordered[*]})"
    docker manifest create "${insecure[@]}" "$uri" "${parts[@]}" >&2
    for part in "${parts[@]}"; do
        [[ "$part" != *-arm64 ]] || docker manifest annotate --variant v8 "$uri" "$part"  # as Docker's own arm64 images
    done
    docker manifest push "${insecure[@]}" --purge "$uri" >&2
fi

printf '%s\n' "$uri"
