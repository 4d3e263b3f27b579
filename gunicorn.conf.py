"""gunicorn settings for production: `gunicorn plg_platform.wsgi` (read from the working
directory) or `gunicorn -c gunicorn.conf.py plg_platform.wsgi`.

The access log leaves out what can hold a secret: the Basic-auth user (``%(u)s``, where Segment
clients put the write key, i.e. our ingestion key) and the query string (``%(r)s`` and
``%(q)s``); it logs the method, the path without the query, the status, size, referrer, user
agent and duration. Every setting can still be overridden on the command line or with
GUNICORN_CMD_ARGS.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
access_log_format = '%(h)s - - %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
# X-Forwarded-For is trusted only from these proxies (gunicorn's default: 127.0.0.1).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
