-- Stock held by orders waiting for payment, kept by the write-behind so an item loaded from the
-- database (no snapshot) gets its reservations back, and their deadlines still expire them.
CREATE TABLE hd_reservation (
    item_id CHAR(36) NOT NULL,
    order_id CHAR(36) NOT NULL,
    user_id CHAR(36) NOT NULL,
    qty INTEGER NOT NULL,
    unit_price INTEGER NOT NULL,
    promotion_id CHAR(36) NULL,
    deadline_at INTEGER NOT NULL,
    PRIMARY KEY (item_id, order_id)
);
