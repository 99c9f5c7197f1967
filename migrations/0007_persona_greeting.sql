-- A persona's first words when a call connects: said at once, while the model reads its prompt, and the
-- same every call. '{name}' stands for the user's name ("there" when the caller is unknown). Empty: the
-- language model writes the greeting (and may say why it called); small local models greet as help desks.
ALTER TABLE personas
    ADD COLUMN greeting text NOT NULL DEFAULT '' CHECK (length(greeting) <= 300);

UPDATE personas SET greeting = 'Hey {name}, it''s Brad! Ready to get after it today?' WHERE id = 'brad';
UPDATE personas SET greeting = 'Hi {name}, it''s Sarah! How are you doing?' WHERE id = 'sarah';
UPDATE personas SET greeting = 'Hey {name}, Alex here! Got a minute to dream up something big?' WHERE id = 'alex';
