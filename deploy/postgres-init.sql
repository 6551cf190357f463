-- Run once by the postgres image on an empty volume: the staging database + ledger of revqb
-- (REVQB_DB_URL), beside the Dagster instance database (POSTGRES_DB).
CREATE DATABASE revqb;
