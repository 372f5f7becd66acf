#!/usr/bin/env bash
# Build the image and push it to Amazon ECR under an immutable tag.
#
# Usage: ./build_and_push.sh [IMAGE_NAME]
#   IMAGE_NAME names the local image and the ECR repository (default: {{ cookiecutter.algorithm_name }}).
#
# Environment (all optional):
#   AWS_REGION, AWS_DEFAULT_REGION  the region; otherwise `aws configure get region`,
#                                   otherwise {{ cookiecutter.aws_region }}
#   TAG            the image tag. Default: the git commit (short SHA) when the project folder
#                  has no uncommitted changes, <sha>-dirty-<UTC time> when it has, and
#                  build-<UTC time> outside git. Never `latest`: an endpoint keeps running the
#                  image it started with, so a moving tag hides which code it runs.
#   PLATFORM       the target platform (default: {{ cookiecutter.platform }}, as the instances need)
#   REGISTRY_HOST  push there instead of <account>.dkr.ecr.<region>.amazonaws.com (a mirror,
#                  or a test registry standing in for ECR)
#   AWS_PROFILE, AWS_ENDPOINT_URL and the other AWS CLI settings apply as usual.
#
# Progress goes to stderr; the one line on stdout, printed last, is the pushed image's URI:
#   IMAGE_URI="$(./build_and_push.sh)"
# The ECR password goes from the AWS CLI straight into `docker login` through a pipe: it is
# never printed, never in a variable and never on a command line (no `set -x` here).
set -euo pipefail

image="${1:-{{ cookiecutter.algorithm_name }}}"
platform="${PLATFORM:-{{ cookiecutter.platform }}}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in aws docker; do
    command -v "$tool" >/dev/null || die "the '$tool' command is not installed"
done

# ECR repository names: lowercase path components separated by '/'.
component='[a-z0-9]+([._-][a-z0-9]+)*'
[[ "$image" =~ ^$component(/$component)*$ ]] \
    || die "image name '$image' must be lowercase letters, digits and . _ - / (an ECR repository name)"

# The region: the environment first (`aws configure get` does not read it), then the CLI profile.
region="${AWS_REGION:-${AWS_DEFAULT_REGION:-}}"
if [ -z "$region" ]; then
    region="$(aws configure get region 2>/dev/null || true)"
fi
region="${region:-{{ cookiecutter.aws_region }}}"
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
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] && [ "$(printf '%s' "$tag" | wc -c)" -le 128 ] \
    || die "tag '$tag' must be 1 to 128 letters, digits, _ . - (not starting with . or -)"
[ "$tag" != "latest" ] || die "TAG=latest is mutable: use a tag that names one build"
uri="$registry/$image:$tag"

say "account $account, region $region: pushing $uri"

repository_error="$(aws ecr describe-repositories --repository-names "$image" 2>&1 >/dev/null)" || {
    case "$repository_error" in
        *RepositoryNotFoundException*)
            say "creating the ECR repository $image (scan on push)"
            aws ecr create-repository --repository-name "$image" \
                --image-scanning-configuration scanOnPush=true >/dev/null
            ;;
        *) die "cannot look up the ECR repository $image: $repository_error" ;;
    esac
}

say "logging in to $registry"
aws ecr get-login-password | docker login --username AWS --password-stdin "$registry" >&2

say "building $image for $platform"
docker build --platform "$platform" -t "$image" -t "$uri" "$here" >&2

# Docker's legacy builder ignores --platform for a base image it already has in another
# architecture: check what was built, since SageMaker would fail with `exec format error`.
wanted="${platform#linux/}"
wanted="${wanted%%/*}"
built="$(docker image inspect "$uri" | sed -n 's/^ *"Architecture": *"\([^"]*\)".*/\1/p' | head -n 1)"
[ "$built" = "$wanted" ] \
    || die "the image was built for '$built', not $platform: remove the local base image, or build on a $wanted host"

say "pushing $uri"
docker push "$uri" >&2

printf '%s\n' "$uri"
