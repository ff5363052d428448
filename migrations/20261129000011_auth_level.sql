-- How a person signed in follows what their sign-in issued: the methods
-- (RFC 8176 `amr` values) of the session travel with its codes and grants,
-- so every token a grant issues says them (and the level, `acr`, they
-- reach). An API may require a level (RFC 9470 step-up).
ALTER TABLE authorization_codes ADD COLUMN amr text[] NOT NULL DEFAULT '{pwd}';
ALTER TABLE grants ADD COLUMN amr text[] NOT NULL DEFAULT '{pwd}';
ALTER TABLE apis ADD COLUMN min_acr text;
