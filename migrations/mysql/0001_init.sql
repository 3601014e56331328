-- hotdeal: initial schema (MySQL 8 / MariaDB 10.11, InnoDB, utf8mb4).
-- Must stay column-for-column identical to migrations/sqlite/0001_init.sql.
-- Conventions (sqlx Any driver: i64 / f64 / String / bool / bytes only):
--   ids              CHAR(36) UUID text
--   integers, money  BIGINT (booleans too: 0 or 1)
--   ratings          DOUBLE
--   timestamps       BIGINT, milliseconds since the Unix epoch, UTC
--   calendar dates   CHAR(10) 'YYYY-MM-DD'
--   enums            VARCHAR(32) holding the enum name
-- Audit columns on every seed table except p_email: created_at, created_by,
-- updated_at, updated_by, deleted_at (NULL = live), deleted_by.
-- Text comparisons use utf8mb4_unicode_ci (case-insensitive), except idem_key (binary).

-- ---------------------------------------------------------------- user service

CREATE TABLE p_user (
    user_id            CHAR(36)     NOT NULL,
    email              VARCHAR(255) NOT NULL,
    password           VARCHAR(255) NOT NULL,
    nickname           VARCHAR(255) NOT NULL,
    role               VARCHAR(32)  NOT NULL,
    default_address_id CHAR(36)     NULL,
    created_at         BIGINT       NOT NULL,
    created_by         VARCHAR(255) NULL,
    updated_at         BIGINT       NOT NULL,
    updated_by         VARCHAR(255) NULL,
    deleted_at         BIGINT       NULL,
    deleted_by         VARCHAR(255) NULL,
    PRIMARY KEY (user_id),
    UNIQUE KEY uq_user_email (email),
    UNIQUE KEY uq_user_nickname (nickname)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE p_address (
    address_id  CHAR(36)     NOT NULL,
    user_id     CHAR(36)     NOT NULL,
    zip_num     VARCHAR(255) NOT NULL,
    city        VARCHAR(255) NOT NULL,
    district    VARCHAR(255) NOT NULL,
    street_name VARCHAR(255) NOT NULL,
    street_num  VARCHAR(255) NOT NULL,
    detail_addr VARCHAR(255) NOT NULL,
    created_at  BIGINT       NOT NULL,
    created_by  VARCHAR(255) NULL,
    updated_at  BIGINT       NOT NULL,
    updated_by  VARCHAR(255) NULL,
    deleted_at  BIGINT       NULL,
    deleted_by  VARCHAR(255) NULL,
    PRIMARY KEY (address_id),
    KEY idx_address_user_id (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE p_email (
    email       VARCHAR(255) NOT NULL,
    is_verified BIGINT       NOT NULL DEFAULT 0,
    PRIMARY KEY (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ------------------------------------------------------------- company service

CREATE TABLE p_companies (
    id                           CHAR(36)     NOT NULL,
    business_registration_number BIGINT       NOT NULL,
    company_phone_number         BIGINT       NOT NULL,
    manager_id                   CHAR(36)     NOT NULL,
    company_email                VARCHAR(255) NOT NULL,
    brand_name                   VARCHAR(255) NOT NULL,
    status                       VARCHAR(32)  NOT NULL,
    created_at                   BIGINT       NOT NULL,
    created_by                   VARCHAR(255) NULL,
    updated_at                   BIGINT       NOT NULL,
    updated_by                   VARCHAR(255) NULL,
    deleted_at                   BIGINT       NULL,
    deleted_by                   VARCHAR(255) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_companies_business_registration_number (business_registration_number)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ------------------------------------------------------------- product service

-- quantity = total stock; the engine keeps available + reserved + sold = quantity.
-- detail_imgs is a JSON array of URL strings.
CREATE TABLE p_product (
    id             CHAR(36)      NOT NULL,
    name           VARCHAR(255)  NOT NULL,
    price          BIGINT        NOT NULL,
    quantity       BIGINT        NOT NULL,
    available      BIGINT        NOT NULL DEFAULT 0,
    reserved       BIGINT        NOT NULL DEFAULT 0,
    sold           BIGINT        NOT NULL DEFAULT 0,
    category       VARCHAR(32)   NOT NULL,
    description    TEXT          NULL,
    thumb_img      VARCHAR(1024) NULL,
    detail_imgs    TEXT          NULL,
    company_id     CHAR(36)      NOT NULL,
    status         VARCHAR(32)   NOT NULL,
    rating_sum     DOUBLE        NOT NULL DEFAULT 0,
    review_cnt     BIGINT        NOT NULL DEFAULT 0,
    discount_price BIGINT        NULL,
    created_at     BIGINT        NOT NULL,
    created_by     VARCHAR(255)  NULL,
    updated_at     BIGINT        NOT NULL,
    updated_by     VARCHAR(255)  NULL,
    deleted_at     BIGINT        NULL,
    deleted_by     VARCHAR(255)  NULL,
    PRIMARY KEY (id),
    KEY idx_product_company_id (company_id),
    KEY idx_product_created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE p_promotion (
    id             CHAR(36)     NOT NULL,
    product_id     CHAR(36)     NOT NULL,
    start_at       BIGINT       NOT NULL,
    end_at         BIGINT       NOT NULL,
    discount_rate  BIGINT       NOT NULL,
    discount_price BIGINT       NOT NULL,
    quantity       BIGINT       NOT NULL,
    remaining      BIGINT       NOT NULL,
    per_user_limit BIGINT       NULL,
    status         VARCHAR(32)  NOT NULL,
    created_at     BIGINT       NOT NULL,
    created_by     VARCHAR(255) NULL,
    updated_at     BIGINT       NOT NULL,
    updated_by     VARCHAR(255) NULL,
    deleted_at     BIGINT       NULL,
    deleted_by     VARCHAR(255) NULL,
    PRIMARY KEY (id),
    KEY idx_promotion_product_id_start_at (product_id, start_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- review_imgs is a JSON array of URL strings.
CREATE TABLE p_review (
    id               CHAR(36)     NOT NULL,
    order_id         CHAR(36)     NOT NULL,
    order_product_id CHAR(36)     NULL,
    product_id       CHAR(36)     NOT NULL,
    user_id          CHAR(36)     NOT NULL,
    nickname         VARCHAR(255) NOT NULL,
    rating           DOUBLE       NOT NULL,
    review           TEXT         NOT NULL,
    review_imgs      TEXT         NULL,
    created_at       BIGINT       NOT NULL,
    created_by       VARCHAR(255) NULL,
    updated_at       BIGINT       NOT NULL,
    updated_by       VARCHAR(255) NULL,
    deleted_at       BIGINT       NULL,
    deleted_by       VARCHAR(255) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_review_order_product_id (order_product_id),
    KEY idx_review_product_id (product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- -------------------------------------------------------------- coupon service

-- company_id NULL = platform-wide coupon.
CREATE TABLE p_coupon_info (
    coupon_info_id   CHAR(36)     NOT NULL,
    name             VARCHAR(255) NOT NULL,
    quantity         BIGINT       NOT NULL,
    issued_count     BIGINT       NOT NULL DEFAULT 0,
    discount_amount  BIGINT       NOT NULL,
    min_order_amount BIGINT       NOT NULL,
    expiration_date  CHAR(10)     NOT NULL,
    status           VARCHAR(32)  NOT NULL,
    coupon_type      VARCHAR(32)  NOT NULL,
    company_id       CHAR(36)     NULL,
    issue_start_at   BIGINT       NULL,
    issue_end_at     BIGINT       NULL,
    created_at       BIGINT       NOT NULL,
    created_by       VARCHAR(255) NULL,
    updated_at       BIGINT       NOT NULL,
    updated_by       VARCHAR(255) NULL,
    deleted_at       BIGINT       NULL,
    deleted_by       VARCHAR(255) NULL,
    PRIMARY KEY (coupon_info_id),
    KEY idx_coupon_info_status (status)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One coupon per (user, campaign); uq_coupon_user_info also serves lookups by user_id.
CREATE TABLE p_coupon (
    coupon_id         CHAR(36)     NOT NULL,
    user_id           CHAR(36)     NOT NULL,
    coupon_info_id    CHAR(36)     NOT NULL,
    daily_issued_date CHAR(10)     NULL,
    is_used           BIGINT       NOT NULL DEFAULT 0,
    used_date         CHAR(10)     NULL,
    used_order_id     CHAR(36)     NULL,
    issued_seq        BIGINT       NULL,
    created_at        BIGINT       NOT NULL,
    created_by        VARCHAR(255) NULL,
    updated_at        BIGINT       NOT NULL,
    updated_by        VARCHAR(255) NULL,
    deleted_at        BIGINT       NULL,
    deleted_by        VARCHAR(255) NULL,
    PRIMARY KEY (coupon_id),
    UNIQUE KEY uq_coupon_user_info (user_id, coupon_info_id),
    KEY idx_coupon_coupon_info_id (coupon_info_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- --------------------------------------------------------------- order service

CREATE TABLE p_basket (
    id         CHAR(36)     NOT NULL,
    product_id CHAR(36)     NOT NULL,
    user_id    CHAR(36)     NOT NULL,
    quantity   BIGINT       NOT NULL,
    created_at BIGINT       NOT NULL,
    created_by VARCHAR(255) NULL,
    updated_at BIGINT       NOT NULL,
    updated_by VARCHAR(255) NULL,
    deleted_at BIGINT       NULL,
    deleted_by VARCHAR(255) NULL,
    PRIMARY KEY (id),
    KEY idx_basket_user_id_product_id (user_id, product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- name: "<first product>" or "<first product> 외 <n-1>개", hence longer than a product name.
CREATE TABLE p_order (
    id                     CHAR(36)     NOT NULL,
    user_id                CHAR(36)     NOT NULL,
    address_id             CHAR(36)     NOT NULL,
    status                 VARCHAR(32)  NOT NULL,
    total_amount           BIGINT       NOT NULL,
    discount_amount        BIGINT       NOT NULL DEFAULT 0,
    pay_amount             BIGINT       NOT NULL,
    name                   VARCHAR(512) NOT NULL,
    coupon_id              CHAR(36)     NULL,
    coupon_discount_amount BIGINT       NOT NULL DEFAULT 0,
    expires_at             BIGINT       NULL,
    completed_at           BIGINT       NULL,
    created_at             BIGINT       NOT NULL,
    created_by             VARCHAR(255) NULL,
    updated_at             BIGINT       NOT NULL,
    updated_by             VARCHAR(255) NULL,
    deleted_at             BIGINT       NULL,
    deleted_by             VARCHAR(255) NULL,
    PRIMARY KEY (id),
    KEY idx_order_user_id_created_at (user_id, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- price = unit price at order time. uq_order_product_order_id_product_id also serves lookups by order_id.
CREATE TABLE p_order_product (
    id           CHAR(36)     NOT NULL,
    order_id     CHAR(36)     NOT NULL,
    product_id   CHAR(36)     NOT NULL,
    product_name VARCHAR(255) NOT NULL,
    quantity     BIGINT       NOT NULL,
    price        BIGINT       NOT NULL,
    created_at   BIGINT       NOT NULL,
    created_by   VARCHAR(255) NULL,
    updated_at   BIGINT       NOT NULL,
    updated_by   VARCHAR(255) NULL,
    deleted_at   BIGINT       NULL,
    deleted_by   VARCHAR(255) NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_order_product_order_id_product_id (order_id, product_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- ------------------------------------------------------------- payment service

CREATE TABLE p_payment (
    id            CHAR(36)      NOT NULL,
    order_id      CHAR(36)      NOT NULL,
    user_id       CHAR(36)      NOT NULL,
    status        VARCHAR(32)   NOT NULL,
    amount        BIGINT        NOT NULL,
    refund_amount BIGINT        NOT NULL DEFAULT 0,
    tid           VARCHAR(255)  NOT NULL,
    refunded_at   BIGINT        NULL,
    approved_at   BIGINT        NULL,
    pay_url       VARCHAR(1024) NULL,
    provider      VARCHAR(32)   NOT NULL,
    created_at    BIGINT        NOT NULL,
    created_by    VARCHAR(255)  NULL,
    updated_at    BIGINT        NOT NULL,
    updated_by    VARCHAR(255)  NULL,
    deleted_at    BIGINT        NULL,
    deleted_by    VARCHAR(255)  NULL,
    PRIMARY KEY (id),
    UNIQUE KEY uq_payment_tid (tid),
    UNIQUE KEY uq_payment_order_id (order_id),
    KEY idx_payment_user_id (user_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- --------------------------------------------------------------- engine tables

-- Write-behind checkpoint: last journal sequence applied to this database.
CREATE TABLE hd_checkpoint (
    name       VARCHAR(64) NOT NULL,
    last_seq   BIGINT      NOT NULL,
    updated_at BIGINT      NOT NULL,
    PRIMARY KEY (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

INSERT IGNORE INTO hd_checkpoint (name, last_seq, updated_at) VALUES ('writebehind', 0, 0);

-- Idempotency-Key records: the first answer to (user, key) is replayed to retries.
-- request_hash: hex digest of the request; body: the first response body.
CREATE TABLE hd_idempotency (
    user_id      CHAR(36)     NOT NULL,
    idem_key     VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    request_hash VARCHAR(64)  NOT NULL,
    status_code  BIGINT       NOT NULL,
    body         MEDIUMTEXT   NOT NULL,
    created_at   BIGINT       NOT NULL,
    expires_at   BIGINT       NOT NULL,
    PRIMARY KEY (user_id, idem_key),
    KEY idx_hd_idempotency_expires_at (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Admin actions. detail: free text or JSON.
CREATE TABLE hd_audit_log (
    id            CHAR(36)    NOT NULL,
    actor_user_id CHAR(36)    NULL,
    action        VARCHAR(64) NOT NULL,
    entity_type   VARCHAR(32) NOT NULL,
    entity_id     CHAR(36)    NOT NULL,
    detail        TEXT        NULL,
    created_at    BIGINT      NOT NULL,
    PRIMARY KEY (id),
    KEY idx_hd_audit_log_entity_type_entity_id (entity_type, entity_id),
    KEY idx_hd_audit_log_created_at (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
