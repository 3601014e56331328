-- Stock held by orders waiting for payment, kept by the write-behind so an item loaded from the
-- database (no snapshot) gets its reservations back, and their deadlines still expire them.
CREATE TABLE hd_reservation (
    item_id CHAR(36) NOT NULL,
    order_id CHAR(36) NOT NULL,
    user_id CHAR(36) NOT NULL,
    qty BIGINT NOT NULL,
    unit_price BIGINT NOT NULL,
    promotion_id CHAR(36) NULL,
    deadline_at BIGINT NOT NULL,
    PRIMARY KEY (item_id, order_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
