# The image of dynamo-ft's load Job on a cluster (-D load_image=<this image>): aiperf 0.13.0, the
# default client, and dynamo-ft's built-in `legacy` client (-D client_type=legacy), which runs as
# `python -m ftlib.platform.kubernetes.load_job legacy ...`. Build it from the repository root:
#
#   docker build -f deploy/load-image.Dockerfile -t <registry>/dynamo-ft-load:0.1.0 .
#   docker push <registry>/dynamo-ft-load:0.1.0
#
# The Job checks at start that aiperf is exactly 0.13.0 and refuses to run otherwise.
# Not built on the machine dynamo-ft was written on (it has no container runtime). The legacy
# client's side was run in a fresh virtualenv holding only the packages below except aiperf, and
# ftlib/ on PYTHONPATH (wrapper, client, SIGINT, records).
FROM python:3.12-slim

RUN pip install --no-cache-dir aiperf==0.13.0 kubernetes==32.0.1 tenacity==9.2.1 pyyaml "aiohttp>=3.14.3,<4"

COPY ftlib /opt/dynamo-ft/ftlib
ENV PYTHONPATH=/opt/dynamo-ft PYTHONUNBUFFERED=1
