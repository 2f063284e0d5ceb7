"""Invoke packaged handlers as Lambda's Python runtime does; run as `python -I -S THIS ...`.

Standard library only: nothing of the test venv is importable in the child (-I
ignores PYTHONPATH and the user site, -S the venv's site-packages). Like
Lambda's bootstrap, it puts the task root (the unzipped deployment.zip, Lambda's
/var/task) first on sys.path and the runtime's own packages (RUNTIME_SDK, Lambda's
/var/lang/lib/python3.11/site-packages: boto3, botocore, ...) after the standard
library, imports each function's `_HANDLER` module once per process (one
container, so a later invocation is warm) and calls the handler with the event
and a context object.

    python -I -S lambda_runtime.py TASK_ROOT RUNTIME_SDK INVOCATIONS_JSON REPORT_JSON

INVOCATIONS_JSON lists {"handler": "app.app", "function_name": ..., "event": ...};
REPORT_JSON receives {"isolation": ..., "results": [{"value": ...} | {"error": ...}]}.
"""

import importlib
import json
import sys
import time
import traceback
import uuid

PROBED_MODULES = ("moto", "pytest", "flask")  # dev-only: must not resolve in the child


class LambdaContext:
    """The attributes of the runtime's context object that handlers read."""

    def __init__(self, function_name, timeout_seconds):
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = "512"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"smoke/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def importable(name):
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def invoke(invocation):
    module_name, attribute = invocation["handler"].rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), attribute)
    context = LambdaContext(invocation["function_name"], invocation.get("timeout", 60))
    try:
        return {"value": handler(invocation["event"], context)}
    except Exception as error:  # Lambda reports an unhandled error as the invocation's result
        traceback.print_exc()
        return {"error": f"{type(error).__name__}: {error}"}


def main():
    task_root, runtime_sdk, invocations_path, report_path = sys.argv[1:]
    sys.path.insert(0, task_root)
    sys.path.append(runtime_sdk)
    isolation = {name: importable(name) for name in PROBED_MODULES}
    with open(invocations_path) as invocations_file:
        invocations = json.load(invocations_file)
    results = [invoke(invocation) for invocation in invocations]
    module_files = {
        name: getattr(sys.modules.get(name), "__file__", None)
        for name in (
            "app",
            "chalice",
            "boto3",
            "botocore",
            "pydantic",
            "pydantic_core",
            "urllib3",
        )
    }
    with open(report_path, "w") as report_file:
        json.dump(
            {
                "isolation": {"importable": isolation, "module_files": module_files},
                "results": results,
            },
            report_file,
            default=str,
        )


if __name__ == "__main__":
    main()
