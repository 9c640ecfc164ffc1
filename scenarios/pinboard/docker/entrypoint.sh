#!/bin/sh
# Wait until the database answers, bring its schema up to date, then run the command
# (uWSGI by default, or what `docker compose run` gives).
set -eu

tries=0
until psql "$DATABASE_URL" --quiet --no-psqlrc --command 'select 1' >/dev/null 2>&1; do
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
        # The host part only: the URL carries the password.
        echo "entrypoint: no database at ${DATABASE_URL#*@} after 30 s" >&2
        exit 1
    fi
    echo "entrypoint: waiting for the database at ${DATABASE_URL#*@}" >&2
    sleep 1
done

python manage.py migrate --noinput
exec "$@"
