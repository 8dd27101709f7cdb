"""``monai-despeckle label --studies DIR``: serve the MONAI Label app to annotation clients (3D Slicer...)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "serve the MONAI Label app (segment, despeckle, fine-tune on annotations) to 3D Slicer and others"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``label``."""
    parser.add_argument(
        "--studies",
        type=Path,
        required=True,
        metavar="DIR",
        help="datastore folder: images at its top, labels saved under DIR/labels (created if missing)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8000, help="port to listen on; 0 picks a free one (default 8000)"
    )
    parser.add_argument(
        "--app-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="where model versions, sessions and logs are kept (default DIR/.monai-despeckle of --studies)",
    )
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda: inference and training")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="server log level (default info)",
    )


def run(args: argparse.Namespace) -> int:
    """Run the server until it is stopped."""
    from monai_despeckle.monailabel_app.launcher import serve

    return serve(
        args.studies,
        host=args.host,
        port=args.port,
        app_dir=args.app_dir,
        device=args.device,
        log_level=args.log_level,
    )
