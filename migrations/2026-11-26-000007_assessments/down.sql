DROP TABLE assessment_restatements;
DROP TABLE assessment_periods;
DROP TABLE assessment_weights;
