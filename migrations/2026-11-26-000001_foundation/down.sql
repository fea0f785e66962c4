DROP TABLE idempotency_keys;
DROP TABLE refresh_tokens;
DROP TABLE users;
DROP TABLE categories;
DROP TABLE leaders;
DROP TABLE units;
DROP TABLE regions;
