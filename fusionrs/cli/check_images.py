"""`fusionrs check-images`: read every image like the builder will, report the bad ones, keep going."""

from __future__ import annotations

import argparse
from pathlib import Path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".gif"}


def add_parser(sub) -> None:
    p = sub.add_parser("check-images", help="validate image files; report unreadable ones with reasons",
                       description="Decode every image (files, or folders searched recursively) and report each "
                                   "file that cannot be used, with its reason. Exit 0 unless --strict and some failed.")
    p.add_argument("paths", nargs="+", help="image files or folders")
    p.add_argument("--mode", choices=["RGB", "L"], default="RGB", help="target mode (L for thermal/IR)")
    p.add_argument("--max-pixels", type=int, default=None,
                   help="pixel limit per image (default: fusionrs default; 0 = no limit)")
    p.add_argument("--json", dest="json_out", help="write the report as JSON here")
    p.add_argument("--strict", action="store_true", help="exit 1 when any file failed")
    p.set_defaults(run=run)


def expand_paths(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.exists():
            files.append(path)
        else:
            raise FileNotFoundError(f"{item}: no such file or folder")
    return files


def run(args: argparse.Namespace) -> int:
    import json

    from fusionrs.core.image_io import DEFAULT_MAX_PIXELS, scan_images

    files = expand_paths(args.paths)
    max_pixels = DEFAULT_MAX_PIXELS if args.max_pixels is None else (args.max_pixels or None)
    report = scan_images(files, mode=args.mode, max_pixels=max_pixels)
    for path, reason in report.failed:
        print(f"BAD  {reason}" if str(path) in reason else f"BAD  {path}: {reason}")
    print(f"{len(report.ok)} readable, {len(report.failed)} bad, of {len(files)} files")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(
            {"ok": [str(p) for p in report.ok], "failed": [{"path": str(p), "reason": r} for p, r in report.failed]},
            indent=2) + "\n")
    return 1 if args.strict and report.failed else 0
