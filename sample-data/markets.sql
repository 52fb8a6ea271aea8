-- Reference data for the SQLite catalog of docs/federation.md:
--   sqlite3 reference.db < sample-data/markets.sql
CREATE TABLE markets (code TEXT PRIMARY KEY, region TEXT NOT NULL, currency TEXT NOT NULL);
INSERT INTO markets VALUES
  ('BR', 'Americas', 'BRL'),
  ('CA', 'Americas', 'CAD'),
  ('US', 'Americas', 'USD'),
  ('DE', 'Europe', 'EUR'),
  ('FR', 'Europe', 'EUR'),
  ('GB', 'Europe', 'GBP'),
  ('IN', 'Asia', 'INR'),
  ('JP', 'Asia', 'JPY');
