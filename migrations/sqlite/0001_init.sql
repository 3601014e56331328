-- hotdeal: initial schema (SQLite, STRICT tables).
-- Must stay column-for-column identical to migrations/mysql/0001_init.sql.
-- Conventions (sqlx Any driver: i64 / f64 / String / bool / bytes only):
--   ids              TEXT UUID (36 chars)
--   integers, money  INTEGER (booleans too: 0 or 1)
--   ratings          REAL
--   timestamps       INTEGER, milliseconds since the Unix epoch, UTC
--   calendar dates   TEXT 'YYYY-MM-DD'
--   enums            TEXT holding the enum name
-- Audit columns on every seed table except p_email: created_at, created_by,
-- updated_at, updated_by, deleted_at (NULL = live), deleted_by.
-- email and nickname use COLLATE NOCASE to match MySQL's case-insensitive collation.

-- ---------------------------------------------------------------- user service

CREATE TABLE p_user (
    user_id            TEXT    NOT NULL PRIMARY KEY,
    email              TEXT    NOT NULL COLLATE NOCASE,
    password           TEXT    NOT NULL,
    nickname           TEXT    NOT NULL COLLATE NOCASE,
    role               TEXT    NOT NULL,
    default_address_id TEXT    NULL,
    created_at         INTEGER NOT NULL,
    created_by         TEXT    NULL,
    updated_at         INTEGER NOT NULL,
    updated_by         TEXT    NULL,
    deleted_at         INTEGER NULL,
    deleted_by         TEXT    NULL
) STRICT;
CREATE UNIQUE INDEX uq_user_email ON p_user (email);
CREATE UNIQUE INDEX uq_user_nickname ON p_user (nickname);

CREATE TABLE p_address (
    address_id  TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    zip_num     TEXT    NOT NULL,
    city        TEXT    NOT NULL,
    district    TEXT    NOT NULL,
    street_name TEXT    NOT NULL,
    street_num  TEXT    NOT NULL,
    detail_addr TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NULL,
    updated_at  INTEGER NOT NULL,
    updated_by  TEXT    NULL,
    deleted_at  INTEGER NULL,
    deleted_by  TEXT    NULL
) STRICT;
CREATE INDEX idx_address_user_id ON p_address (user_id);

CREATE TABLE p_email (
    email       TEXT    NOT NULL PRIMARY KEY COLLATE NOCASE,
    is_verified INTEGER NOT NULL DEFAULT 0
) STRICT;

-- ------------------------------------------------------------- company service

CREATE TABLE p_companies (
    id                           TEXT    NOT NULL PRIMARY KEY,
    business_registration_number INTEGER NOT NULL,
    company_phone_number         INTEGER NOT NULL,
    manager_id                   TEXT    NOT NULL,
    company_email                TEXT    NOT NULL,
    brand_name                   TEXT    NOT NULL,
    status                       TEXT    NOT NULL,
    created_at                   INTEGER NOT NULL,
    created_by                   TEXT    NULL,
    updated_at                   INTEGER NOT NULL,
    updated_by                   TEXT    NULL,
    deleted_at                   INTEGER NULL,
    deleted_by                   TEXT    NULL
) STRICT;
CREATE UNIQUE INDEX uq_companies_business_registration_number ON p_companies (business_registration_number);

-- ------------------------------------------------------------- product service

-- quantity = total stock; the engine keeps available + reserved + sold = quantity.
-- detail_imgs is a JSON array of URL strings.
CREATE TABLE p_product (
    id             TEXT    NOT NULL PRIMARY KEY,
    name           TEXT    NOT NULL,
    price          INTEGER NOT NULL,
    quantity       INTEGER NOT NULL,
    available      INTEGER NOT NULL DEFAULT 0,
    reserved       INTEGER NOT NULL DEFAULT 0,
    sold           INTEGER NOT NULL DEFAULT 0,
    category       TEXT    NOT NULL,
    description    TEXT    NULL,
    thumb_img      TEXT    NULL,
    detail_imgs    TEXT    NULL,
    company_id     TEXT    NOT NULL,
    status         TEXT    NOT NULL,
    rating_sum     REAL    NOT NULL DEFAULT 0,
    review_cnt     INTEGER NOT NULL DEFAULT 0,
    discount_price INTEGER NULL,
    created_at     INTEGER NOT NULL,
    created_by     TEXT    NULL,
    updated_at     INTEGER NOT NULL,
    updated_by     TEXT    NULL,
    deleted_at     INTEGER NULL,
    deleted_by     TEXT    NULL
) STRICT;
CREATE INDEX idx_product_company_id ON p_product (company_id);
CREATE INDEX idx_product_created_at ON p_product (created_at);

CREATE TABLE p_promotion (
    id             TEXT    NOT NULL PRIMARY KEY,
    product_id     TEXT    NOT NULL,
    start_at       INTEGER NOT NULL,
    end_at         INTEGER NOT NULL,
    discount_rate  INTEGER NOT NULL,
    discount_price INTEGER NOT NULL,
    quantity       INTEGER NOT NULL,
    remaining      INTEGER NOT NULL,
    per_user_limit INTEGER NULL,
    status         TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    created_by     TEXT    NULL,
    updated_at     INTEGER NOT NULL,
    updated_by     TEXT    NULL,
    deleted_at     INTEGER NULL,
    deleted_by     TEXT    NULL
) STRICT;
CREATE INDEX idx_promotion_product_id_start_at ON p_promotion (product_id, start_at);

-- review_imgs is a JSON array of URL strings.
CREATE TABLE p_review (
    id               TEXT    NOT NULL PRIMARY KEY,
    order_id         TEXT    NOT NULL,
    order_product_id TEXT    NULL,
    product_id       TEXT    NOT NULL,
    user_id          TEXT    NOT NULL,
    nickname         TEXT    NOT NULL,
    rating           REAL    NOT NULL,
    review           TEXT    NOT NULL,
    review_imgs      TEXT    NULL,
    created_at       INTEGER NOT NULL,
    created_by       TEXT    NULL,
    updated_at       INTEGER NOT NULL,
    updated_by       TEXT    NULL,
    deleted_at       INTEGER NULL,
    deleted_by       TEXT    NULL
) STRICT;
CREATE UNIQUE INDEX uq_review_order_product_id ON p_review (order_product_id);
CREATE INDEX idx_review_product_id ON p_review (product_id);

-- -------------------------------------------------------------- coupon service

-- company_id NULL = platform-wide coupon.
CREATE TABLE p_coupon_info (
    coupon_info_id   TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    quantity         INTEGER NOT NULL,
    issued_count     INTEGER NOT NULL DEFAULT 0,
    discount_amount  INTEGER NOT NULL,
    min_order_amount INTEGER NOT NULL,
    expiration_date  TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    coupon_type      TEXT    NOT NULL,
    company_id       TEXT    NULL,
    issue_start_at   INTEGER NULL,
    issue_end_at     INTEGER NULL,
    created_at       INTEGER NOT NULL,
    created_by       TEXT    NULL,
    updated_at       INTEGER NOT NULL,
    updated_by       TEXT    NULL,
    deleted_at       INTEGER NULL,
    deleted_by       TEXT    NULL
) STRICT;
CREATE INDEX idx_coupon_info_status ON p_coupon_info (status);

-- One coupon per (user, campaign); uq_coupon_user_info also serves lookups by user_id.
CREATE TABLE p_coupon (
    coupon_id         TEXT    NOT NULL PRIMARY KEY,
    user_id           TEXT    NOT NULL,
    coupon_info_id    TEXT    NOT NULL,
    daily_issued_date TEXT    NULL,
    is_used           INTEGER NOT NULL DEFAULT 0,
    used_date         TEXT    NULL,
    used_order_id     TEXT    NULL,
    issued_seq        INTEGER NULL,
    created_at        INTEGER NOT NULL,
    created_by        TEXT    NULL,
    updated_at        INTEGER NOT NULL,
    updated_by        TEXT    NULL,
    deleted_at        INTEGER NULL,
    deleted_by        TEXT    NULL
) STRICT;
CREATE UNIQUE INDEX uq_coupon_user_info ON p_coupon (user_id, coupon_info_id);
CREATE INDEX idx_coupon_coupon_info_id ON p_coupon (coupon_info_id);

-- --------------------------------------------------------------- order service

CREATE TABLE p_basket (
    id         TEXT    NOT NULL PRIMARY KEY,
    product_id TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    quantity   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NULL,
    updated_at INTEGER NOT NULL,
    updated_by TEXT    NULL,
    deleted_at INTEGER NULL,
    deleted_by TEXT    NULL
) STRICT;
CREATE INDEX idx_basket_user_id_product_id ON p_basket (user_id, product_id);

-- name: "<first product>" or "<first product> 외 <n-1>개".
CREATE TABLE p_order (
    id                     TEXT    NOT NULL PRIMARY KEY,
    user_id                TEXT    NOT NULL,
    address_id             TEXT    NOT NULL,
    status                 TEXT    NOT NULL,
    total_amount           INTEGER NOT NULL,
    discount_amount        INTEGER NOT NULL DEFAULT 0,
    pay_amount             INTEGER NOT NULL,
    name                   TEXT    NOT NULL,
    coupon_id              TEXT    NULL,
    coupon_discount_amount INTEGER NOT NULL DEFAULT 0,
    expires_at             INTEGER NULL,
    completed_at           INTEGER NULL,
    created_at             INTEGER NOT NULL,
    created_by             TEXT    NULL,
    updated_at             INTEGER NOT NULL,
    updated_by             TEXT    NULL,
    deleted_at             INTEGER NULL,
    deleted_by             TEXT    NULL
) STRICT;
CREATE INDEX idx_order_user_id_created_at ON p_order (user_id, created_at);

-- price = unit price at order time. uq_order_product_order_id_product_id also serves lookups by order_id.
CREATE TABLE p_order_product (
    id           TEXT    NOT NULL PRIMARY KEY,
    order_id     TEXT    NOT NULL,
    product_id   TEXT    NOT NULL,
    product_name TEXT    NOT NULL,
    quantity     INTEGER NOT NULL,
    price        INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    created_by   TEXT    NULL,
    updated_at   INTEGER NOT NULL,
    updated_by   TEXT    NULL,
    deleted_at   INTEGER NULL,
    deleted_by   TEXT    NULL
) STRICT;
CREATE UNIQUE INDEX uq_order_product_order_id_product_id ON p_order_product (order_id, product_id);

-- ------------------------------------------------------------- payment service

CREATE TABLE p_payment (
    id            TEXT    NOT NULL PRIMARY KEY,
    order_id      TEXT    NOT NULL,
    user_id       TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    amount        INTEGER NOT NULL,
    refund_amount INTEGER NOT NULL DEFAULT 0,
    tid           TEXT    NOT NULL,
    refunded_at   INTEGER NULL,
    approved_at   INTEGER NULL,
    pay_url       TEXT    NULL,
    provider      TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT    NULL,
    updated_at    INTEGER NOT NULL,
    updated_by    TEXT    NULL,
    deleted_at    INTEGER NULL,
    deleted_by    TEXT    NULL
) STRICT;
CREATE UNIQUE INDEX uq_payment_tid ON p_payment (tid);
CREATE UNIQUE INDEX uq_payment_order_id ON p_payment (order_id);
CREATE INDEX idx_payment_user_id ON p_payment (user_id);

-- --------------------------------------------------------------- engine tables

-- Write-behind checkpoint: last journal sequence applied to this database.
CREATE TABLE hd_checkpoint (
    name       TEXT    NOT NULL PRIMARY KEY,
    last_seq   INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
) STRICT;

INSERT OR IGNORE INTO hd_checkpoint (name, last_seq, updated_at) VALUES ('writebehind', 0, 0);

-- Idempotency-Key records: the first answer to (user, key) is replayed to retries.
-- request_hash: hex digest of the request; body: the first response body.
CREATE TABLE hd_idempotency (
    user_id      TEXT    NOT NULL,
    idem_key     TEXT    NOT NULL,
    request_hash TEXT    NOT NULL,
    status_code  INTEGER NOT NULL,
    body         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (user_id, idem_key)
) STRICT;
CREATE INDEX idx_hd_idempotency_expires_at ON hd_idempotency (expires_at);

-- Admin actions. detail: free text or JSON.
CREATE TABLE hd_audit_log (
    id            TEXT    NOT NULL PRIMARY KEY,
    actor_user_id TEXT    NULL,
    action        TEXT    NOT NULL,
    entity_type   TEXT    NOT NULL,
    entity_id     TEXT    NOT NULL,
    detail        TEXT    NULL,
    created_at    INTEGER NOT NULL
) STRICT;
CREATE INDEX idx_hd_audit_log_entity_type_entity_id ON hd_audit_log (entity_type, entity_id);
CREATE INDEX idx_hd_audit_log_created_at ON hd_audit_log (created_at);
