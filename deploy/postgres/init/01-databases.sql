-- One database per service (no service reads another's). Run once by the postgres image's entrypoint,
-- as POSTGRES_USER, on an empty data directory; each service creates its own tables at start-up.
CREATE DATABASE probidad_enrollment;
CREATE DATABASE probidad_attendance;
CREATE DATABASE probidad_certification;
CREATE DATABASE probidad_reporting;
