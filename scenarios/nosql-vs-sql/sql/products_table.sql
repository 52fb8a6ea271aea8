-- The relational model, fixed up front: the columns the application knew when the
-- table was designed, plus `rating`, added by a migration.
CREATE TABLE products (
  doc_id  BIGINT NOT NULL,
  title   VARCHAR NOT NULL,
  price   DECIMAL(10, 2) NOT NULL,
  stock   INT NOT NULL,
  updated DATE NOT NULL,
  rating  DOUBLE
)
