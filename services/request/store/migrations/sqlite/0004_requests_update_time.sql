-- Lists are ordered by the time of the last change (the console's
-- dashboards, `orderBy=updateTime desc`): without an index, every page of a
-- store of 100,000 requests sorted them all (docs/benchmarks.md, console
-- pages). The id breaks ties, as the lists' order does.
CREATE INDEX requests_update_time ON requests (update_time, id);
