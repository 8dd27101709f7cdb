"""Start the MONAI Label server on the app: what ``monai-despeckle label`` runs.

MONAI Label loads an app from a folder's ``main.py`` and keeps the app's models and logs in that
folder; the app itself ships in this package, so the folder (default ``<studies>/.monai-despeckle``)
holds only a two-line ``main.py`` importing it, the fine-tuned model versions, sessions and logs.

The server runs in this process, on this interpreter (``sys.executable``, which MONAI Label also
uses for its training subprocesses), after this package's import has made MONAI Label importable
(:mod:`~monai_despeckle.monailabel_app.compat`). The listening socket is bound here, before the
server starts, and its address printed: with ``--port 0`` the system picks a free port and
whoever started the server reads it from that line, with no race for the port.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from monai_despeckle.errors import DespeckleError, MissingDependencyError, OutputPathError
from monai_despeckle.monailabel_app.compat import INSTALL_HINT

__all__ = ["APP_MAIN", "default_app_dir", "listen", "prepare_app_dir", "serve"]

APP_FOLDER = ".monai-despeckle"
APP_MARKER = "monai_despeckle.monailabel_app.app"
APP_MAIN = (
    '"""MONAI Label entry point of the monai-despeckle app, written by `monai-despeckle label`."""\n\n'
    f"from {APP_MARKER} import DespeckleLabelApp  # noqa: F401\n"
)
READY_PREFIX = "monai-despeckle label: MONAI Label server on "


def default_app_dir(studies: Path) -> Path:
    """Where the app keeps its model versions, sessions and logs unless told otherwise."""
    return studies / APP_FOLDER


def prepare_app_dir(app_dir: Path) -> Path:
    """Create the app folder with its ``main.py``; refuse a folder holding another app's ``main.py``."""
    app_dir.mkdir(parents=True, exist_ok=True)
    main = app_dir / "main.py"
    if main.is_file():
        text = main.read_text(encoding="utf-8", errors="replace")
        if APP_MARKER not in text:
            raise OutputPathError("holds another MONAI Label app; choose a new --app-dir", main)
        if text == APP_MAIN:
            return app_dir
    main.write_text(APP_MAIN, encoding="utf-8")
    return app_dir


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port) and listening."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as err:
        sock.close()
        raise DespeckleError(f"cannot listen on {host}:{port} ({err.strerror or err})") from None
    return sock


def _url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def serve(
    studies: str | Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    app_dir: str | Path | None = None,
    device: str = "auto",
    log_level: str = "info",
) -> int:
    """Run the MONAI Label server on the app until it is stopped (Ctrl+C, SIGTERM).

    Args:
        studies: the datastore folder (images at its top, labels under ``labels/``); created if missing.
        host: address to listen on (``0.0.0.0`` for every interface).
        port: port to listen on; 0 picks a free one (printed).
        app_dir: the app folder (default ``<studies>/.monai-despeckle``).
        device: where despecklers, segmenters and training run (``auto``, ``cpu``, ``cuda``...).
        log_level: uvicorn's log level.
    """
    try:
        import uvicorn
        from monailabel.config import settings
    except ImportError as err:
        raise MissingDependencyError(f"MONAI Label is not installed ({err}); {INSTALL_HINT}") from None
    from monailabel.main import Main
    from monailabel.utils.others.generic import init_log_config

    from monai_despeckle.monailabel_app.errors import install_error_handlers

    studies = Path(studies).absolute()
    if studies.exists() and not studies.is_dir():
        raise OutputPathError("the studies folder is a file", studies)
    studies.mkdir(parents=True, exist_ok=True)
    app_dir = prepare_app_dir(Path(app_dir).absolute() if app_dir else default_app_dir(studies))
    if not os.environ.get("MONAI_LABEL_SESSION_PATH"):
        settings.MONAI_LABEL_SESSION_PATH = str(app_dir / "sessions")

    sock = listen(host, port)
    try:
        bound = int(sock.getsockname()[1])
        main = Main()
        argv = ["start_server", "--app", str(app_dir), "--studies", str(studies)]
        argv += ["--host", host, "--port", str(bound), "--conf", "device", device]
        args = main.args_parser().parse_args(argv)
        main.start_server_validate_args(args)
        main.start_server_init_settings(args)  # settings, exported to the environment of subprocesses
        log_config = init_log_config(None, str(app_dir), "app.log")

        from monailabel.app import app  # reads the settings at import

        install_error_handlers(app)
        print(f"{READY_PREFIX}{_url(host, bound)} (studies {studies}, app {app_dir})", flush=True)
        config = uvicorn.Config(app, log_config=log_config, log_level=log_level, access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()
    return 0
