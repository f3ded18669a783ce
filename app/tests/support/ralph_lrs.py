"""Runs Ralph's LRS (the `ralph-malph` package) with its file-system backend, for the tests.

Usage: python ralph_lrs.py HOST PORT DIRECTORY (with RALPH_APP_DIR naming the folder of the
auth.json that `ralph auth` wrote).

Why not `ralph runserver -b fs`: in ralph-malph 5.1 the file-system LRS backend writes every POST
to the same file with the `create` operation, which refuses an existing file, so every POST after
the first answers 500. Appending is what an LRS store needs, and is the one change made here;
everything else (validation, 409 on differing content, 204 on known ids, paging) is Ralph's own.
It is also run without uvicorn's reloader, so stopping this process stops the server.
"""

import os
import sys


def main() -> None:
    host, port, directory = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    os.environ["RALPH_RUNSERVER_BACKEND"] = "fs"
    os.environ["RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH"] = directory
    os.makedirs(directory, exist_ok=True)

    from ralph.backends.data.base import BaseOperationType
    from ralph.backends.lrs.fs import FSLRSBackend

    FSLRSBackend.default_operation_type = BaseOperationType.APPEND

    import uvicorn
    from ralph.api import app

    uvicorn.run(app, host=host, port=port, log_level="warning")


if __name__ == "__main__":
    main()
