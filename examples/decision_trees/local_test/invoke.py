#!/usr/bin/env python3
"""Send a payload as an application calls SageMaker: boto3's invoke_endpoint, through the local
front door (lifecycle/front.py) to the model served by serve_local.sh. The front refuses what
SageMaker refuses (a body over the mode's limit, a container slower than the timeout) and
answers a container error as ModelError, so what this prints is what the application would see.

Usage: local_test/invoke.py PAYLOAD [CONTENT_TYPE]     (CONTENT_TYPE defaults to text/csv)
  --mode realtime|serverless|...  the limits to enforce (contract/hosting.py's MODES)
  --upstream URL                  the container (default http://localhost:$PORT, PORT=8080)
  --front URL                     a front already running (python -m lifecycle.front) instead of one here
ACCEPT (text/csv, application/json or application/x-npy) picks the answer's format.
"""

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project: lifecycle/
from lifecycle.front import FRONT_MODES, LocalFront, runtime_client  # noqa: E402 (needs the path above)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("payload", type=Path)
    parser.add_argument("content_type", nargs="?", default="text/csv")
    parser.add_argument("--mode", choices=[m for m in FRONT_MODES if m != "async"], default="realtime")
    parser.add_argument("--upstream", default=f"http://localhost:{os.environ.get('PORT', '8080')}")
    parser.add_argument("--front", help="the URL of a running front (default: start one for this call)")
    parser.add_argument("--endpoint-name", default="local-endpoint")
    parser.add_argument("--target-model", help="multi-model endpoints: the .tar.gz to invoke")
    args = parser.parse_args()

    import botocore.exceptions

    request = {"EndpointName": args.endpoint_name, "Body": args.payload.read_bytes(),
               "ContentType": args.content_type, "Accept": os.environ.get("ACCEPT", "text/csv")}  # fmt: skip
    if args.target_model:
        request["TargetModel"] = args.target_model
    front = None if args.front else LocalFront(args.upstream, args.mode, log_requests=False).start()
    try:
        client = runtime_client(args.front) if args.front else front.runtime_client()
        if front is not None:
            print(f"invoke: through the front at {front.describe()}", file=sys.stderr)
        answer = client.invoke_endpoint(**request)
    except botocore.exceptions.ClientError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)  # as the application's traceback ends
        return 1
    except botocore.exceptions.BotoCoreError as exc:  # nothing listens at the front's URL, mostly
        print(f"invoke: {exc}", file=sys.stderr)
        return 1
    finally:
        if front is not None:
            front.stop()
    sys.stdout.buffer.write(answer["Body"].read())
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
