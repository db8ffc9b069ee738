"""``python -m rivya.sandbox --host 127.0.0.1 --port 8787``: run the sandbox alone."""

from __future__ import annotations

import argparse

from .server import DEFAULT_SANDBOX_KEY, Faults, Sandbox
from .state import Timing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m rivya.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--api-key", default=DEFAULT_SANDBOX_KEY, help="the default key (its account holds --credits)")
    parser.add_argument("--credits", type=int, default=1000, help="starting wallet (0 drains it)")
    parser.add_argument("--image-seconds", type=float, default=5.0, help="time an image task takes")
    parser.add_argument("--video-seconds", type=float, default=12.0, help="time a video task takes")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every API request")
    parser.add_argument("--failure-rate", type=float, default=0.0, help="share of tasks that fail")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of API requests answered 500")
    parser.add_argument("--rate-limit-rate", type=float, default=0.0, help="share of API requests answered 429")
    parser.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds sent with 429")
    parser.add_argument("--lost-create-rate", type=float, default=0.0, help="share of creates whose reply is lost")
    parser.add_argument(
        "--in-flight-seconds",
        type=float,
        default=0.0,
        help="after a lost create, the same Idempotency-Key gets 409 'still being processed' this long, then a replay",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--allow-local-webhooks", action="store_true",
                        help="let webhook endpoints use plain http on a loopback address (the real service refuses it)")
    args = parser.parse_args(argv)
    timing = Timing(
        image_queued=args.image_seconds * 0.2,
        image_processing=args.image_seconds * 0.8,
        video_queued=args.video_seconds * 0.2,
        video_processing=args.video_seconds * 0.8,
    )
    faults = Faults(
        latency=args.latency,
        error_rate=args.error_rate,
        rate_limit_rate=args.rate_limit_rate,
        retry_after=args.retry_after,
        lost_create_rate=args.lost_create_rate,
        in_flight_seconds=args.in_flight_seconds,
    )
    sandbox = Sandbox(
        host=args.host,
        port=args.port,
        api_key=args.api_key,
        credits=args.credits,
        timing=timing,
        faults=faults,
        task_failure_rate=args.failure_rate,
        seed=args.seed,
        allow_local_webhooks=args.allow_local_webhooks,
    )
    print(f"Rivya sandbox on {sandbox.url}  (key: {args.api_key}; Ctrl+C to stop)", flush=True)
    try:
        sandbox.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
