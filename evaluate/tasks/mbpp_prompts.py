"""MBPP prompt templates, exact.

- :data:`OC_SANITIZED_TEMPLATE`: OpenCompass ``sanitized_mbpp_gen_742f0c`` (OC@2954913d;
  PROTOCOLS_MORE X2, 1,596 characters, sha256 cd32cf35...): three shots as
  ``[BEGIN]\\n '<code>'\\n[DONE]``, then the query's ``{text}`` and ``{test_list}`` (filled with
  ``str.replace``), with no ``[BEGIN]`` after it.
- :data:`OC2023_TEMPLATE`: OpenCompass ``mbpp_gen_1e1056`` (OC@2c915218), see below.
"""

from __future__ import annotations

OC_SANITIZED_TEMPLATE = (
    'You are an expert Python programmer, and here is your task: Write a function to '
    'find the similar elements from the given two tuple lists. Your code should pass '
    'these tests:\n\nassert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n'
    'assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)\nassert '
    "similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)\n\n[BEGIN]\n 'def "
    'similar_elements(test_tup1, test_tup2):\n    res = tuple(set(test_tup1) & '
    "set(test_tup2))\n    return (res)'\n[DONE]\n\n\nYou are an expert Python "
    'programmer, and here is your task: Write a python function to identify non-prime '
    'numbers. Your code should pass these tests:\n\nassert is_not_prime(2) == False\n'
    'assert is_not_prime(10) == True\nassert is_not_prime(35) == True\n\n[BEGIN]\n '
    "'def is_not_prime(n):\n    result = False\n    for i in range(2,int(math.sqrt(n)) "
    "+ 1):\n        if n % i == 0:\n            result = True\n    return result'\n"
    '[DONE]\n\n\nYou are an expert Python programmer, and here is your task: Write a '
    'function to find the largest integers from a given list of numbers using heap '
    'queue algorithm. Your code should pass these tests:\n\nassert heap_queue_largest( '
    '[25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65]\nassert heap_queue_largest( '
    '[25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75]\nassert heap_queue_largest( '
    "[25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, 58, 35]\n\n[BEGIN]\n 'def "
    'heap_queue_largest(nums,n):\n    largest_nums = hq.nlargest(n, nums)\n    return '
    "largest_nums'\n[DONE]\n\n\nYou are an expert Python programmer, and here is your "
    'task: {text} Your code should pass these tests:\n\n{test_list}'
)

# OpenCompass ``mbpp_gen_1e1056`` (OC@2c915218), its eight HUMAN/BOT items rendered for a base
# model without a meta template (joined with "\n"); the final BOT "[BEGIN]\n" stays. The shots'
# code keeps the release's "\r\n"; the query's {text} and {test_list} (tests joined with "\n")
# are filled with str.replace.
OC2023_TEMPLATE = (
    'You are an expert Python programmer, and here is your task: Write a function to '
    'find the similar elements from the given two tuple lists. Your code should pass '
    'these tests:\n\n assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)\n '
    'assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4) \n assert '
    'similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14) \n\n[BEGIN]\n '
    "'def similar_elements(test_tup1, test_tup2):\r\n  res = tuple(set(test_tup1) & "
    "set(test_tup2))\r\n  return (res)' \n[DONE] \n\n \nYou are an expert Python "
    'programmer, and here is your task: Write a python function to identify non-prime '
    'numbers. Your code should pass these tests:\n\n assert is_not_prime(2) == False \n'
    ' assert is_not_prime(10) == True \n assert is_not_prime(35) == True \n\n[BEGIN]\n '
    "'import math\r\ndef is_not_prime(n):\r\n    result = False\r\n    for i in "
    'range(2,int(math.sqrt(n)) + 1):\r\n        if n % i == 0:\r\n            result = '
    "True\r\n    return result' \n[DONE] \n\n \nYou are an expert Python programmer, "
    'and here is your task: Write a function to find the largest integers from a given '
    'list of numbers using heap queue algorithm. Your code should pass these tests:\n\n'
    ' assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] '
    '\n assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] \n'
    ' assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)==[85, 75, 65, '
    "58, 35] \n\n[BEGIN]\n 'import heapq as hq\r\ndef heap_queue_largest(nums,n):\r\n  "
    "largest_nums = hq.nlargest(n, nums)\r\n  return largest_nums' \n[DONE] \n\n \nYou "
    'are an expert Python programmer, and here is your task: {text} Your code should '
    'pass these tests:\n\n {test_list}  \n\n[BEGIN]\n'
)
