-- Catalog: sellers list their own companies.
CREATE INDEX idx_companies_manager_id ON p_companies (manager_id);
