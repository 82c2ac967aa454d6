"""``tokacq bundle push``: fill a bucket from a lock file, for clusters without the Hub.

::

    tokacq bundle push --lock tokenizers.lock s3://bucket/prefix

Each locked set is acquired through the configured strategies first (a hit in the local
cache makes no request; a miss is fetched), then uploaded as the ``s3`` strategy lays it
out (blobs, manifest, ref; ``domain/bucket_layout.py``). Pods configured with
``strategy = "s3"`` and that URL then run ``tokacq fetch --lock`` from the bucket alone.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
from typing import Any

from ..domain.bucket_layout import S3Options, parse_s3_url
from ..domain.errors import AcquisitionError, AuthenticationFailed, IntegrityError
from .cli_support import build_downloader, command_observer, load, note, print_json


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    bundle = commands.add_parser(
        "bundle", parents=[common], help="upload locked tokenizers to a shared bucket",
        description="Upload a lock file's sets to an S3 bucket for the s3 strategy.")
    actions = bundle.add_subparsers(dest="action", metavar="ACTION", required=True)
    push = actions.add_parser("push", parents=[common], help="upload a lock file's sets",
                              description="Acquire each locked set (the local cache first), "
                                          "then upload it to s3://bucket/prefix.")
    push.add_argument("--lock", required=True, metavar="FILE", help="the lock file")
    push.add_argument("url", metavar="s3://bucket/prefix")
    push.set_defaults(handler=run_push, parser=push)


def run_push(args: argparse.Namespace) -> int:
    from ..facade import read_lock_file
    from ..strategies import S3Acquisition, require_s3

    require_s3()
    settings = load(args)
    bucket, prefix = parse_s3_url(args.url, "url", "command line")
    base = settings.s3 or S3Options(bucket=bucket)
    options = dataclasses.replace(base, bucket=bucket, prefix=prefix)
    lock = read_lock_file(args.lock)
    observer, _ = command_observer(args)
    downloader = build_downloader(args, observer, strategy="hybrid",
                                  strategies=["cache-only", "network"])
    uploader = S3Acquisition(settings.cache_dir, options=options, network=settings.network,
                             lock_timeout=settings.lock_timeout)

    async def go() -> list[dict[str, Any]]:
        pushed = []
        try:
            for info in lock.requests():
                await downloader.acquire(info)
                if not await uploader.upload(info):
                    raise await _not_uploaded(uploader, info, options)
                pushed.append({"repo": info.repo, "commit": info.revision,
                               "files": list(info.files)})
        finally:
            await downloader.aclose()
            await uploader.aclose()
        return pushed

    pushed = asyncio.run(go())
    if args.json:
        print_json({"location": options.location, "sets": pushed})
    else:
        for item in pushed:
            note(args, f"pushed {item['repo']}@{item['commit']} ({len(item['files'])} files)")
        print(options.location)
    return 0


async def _not_uploaded(uploader: Any, info: Any, options: S3Options) -> AcquisitionError:
    """A typed error (never a bare one, exit 1) for a set the bucket did not take: the
    identity may not write (AUTH), else the set could not be read or recorded whole."""
    what = f"could not upload {info.repo}@{info.revision} to {options.location}"
    access = await uploader.store.probe()
    if access.write is False or access.read is False:
        return AuthenticationFailed(
            f"{what}: the S3 identity may not write", url=options.location,
            suggestions=["grant s3:PutObject on the bucket to the credentials in use "
                         "(AWS_ACCESS_KEY_ID / AWS_PROFILE / web identity)"])
    return IntegrityError(f"{info.repo}@{info.revision}", check="set to upload",
                          expected=f"the local set complete, with its commit ({what})",
                          actual="incomplete, changed while read, or the bucket's manifest "
                                 "kept changing")
