-- The time sale an order line's units came from (NULL: regular price). An item loaded from the
-- database (no snapshot) counts the COMPLETE orders of its current sale per user from here, so
-- per-user sale limits still count past purchases, and a refund gives units back to the sale
-- they were bought from.
ALTER TABLE p_order_product
    ADD COLUMN promotion_id CHAR(36) NULL,
    ADD KEY idx_order_product_product_id_promotion_id (product_id, promotion_id);
