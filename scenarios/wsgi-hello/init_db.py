"""The release step: the greetings table and the first greetings, on DATABASE_URL's database."""

import os

import psycopg2

SCHEMA = """
create table if not exists greetings (
    id serial primary key,
    name text not null unique,
    by text not null,
    created_at timestamptz not null default now()
)
"""
FIRST = [("world", "system"), ("parity", "system")]

with psycopg2.connect(os.environ["DATABASE_URL"]) as db, db.cursor() as cur:
    cur.execute(SCHEMA)
    cur.executemany("insert into greetings (name, by) values (%s, %s) on conflict (name) do nothing", FIRST)
print("greetings table ready")
