-- A request recorded from a call (DESIGN §5.3) must be confirmed in writing
-- by its deadline, and is overdue when it is not: the column lets a list
-- filter on it. NULL for every other request, and once confirmed, so that
-- a comparison such as confirmation_due_by < ? never matches them; the
-- requests stored before it are none of those.
ALTER TABLE requests ADD COLUMN confirmation_due_by timestamptz;
